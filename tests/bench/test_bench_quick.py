import json

import pytest

from bench.__main__ import SCENARIOS, main
from bench.report import REQUIRED_KEYS

CONTENDERS = {"gateway", "asyncio", "pykka"}
EXPECTED_RESULTS = {
    "saturation": {name: {"msgs_per_s", "cpu_us_per_msg", "latency"} for name in CONTENDERS},
    "paced": {name: {"rate_1000"} for name in CONTENDERS},
    "head_of_line": {name: {"alone", "with_slow", "slow_turns_completed"} for name in CONTENDERS},
    "live_sessions": {
        **{name: {"live_100", "live_500", "rss_start_mib"} for name in CONTENDERS},
        **{f"{name}_store": {"activation", "live_key", "added_p99_ms"} for name in CONTENDERS},
    },
    "streaming": {
        name: {"loop_lag", "probe", "rss_peak_mib", "all_turns_complete"} for name in CONTENDERS
    },
    "store": {
        "group_commit": {"appends_per_s", "writes_per_commit"},
        "commit_each": {"appends_per_s"},
        "direct_100": {"appends_per_s"},
        "startup_big": {"startup_s", "first_reply_ms"},
        "startup_empty": {"startup_s", "first_reply_ms"},
    },
}


@pytest.mark.slow
def test_quick_mode_runs_every_scenario_and_answers_every_message(tmp_path, capsys):
    out = tmp_path / "results"

    status = main(["--quick", "--out", str(out), "--cache", str(tmp_path / "cache")])

    assert status == 0
    documents = {}
    for path in out.glob("*.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        assert path.name.startswith(f"{document['scenario']}-")
        documents[document["scenario"]] = document
    assert set(documents) == set(SCENARIOS) == set(EXPECTED_RESULTS)
    for name, document in documents.items():
        assert set(REQUIRED_KEYS) <= set(document), name
        assert document["mode"] == "quick"
        assert document["machine"]["cpu_count"] >= 1
        assert document["checks"]["sent"] > 0, name
        assert document["checks"]["answered"] == document["checks"]["sent"], name
        assert document["checks"]["all_answered"] is True
        for contender, keys in EXPECTED_RESULTS[name].items():
            assert keys <= set(document["results"][contender]), (name, contender)
        assert document["table"], name
    streaming = documents["streaming"]["results"]
    assert all(streaming[name]["all_turns_complete"] for name in CONTENDERS)
    printed = capsys.readouterr().out
    assert all(f"{name}: metric" in printed for name in SCENARIOS)


def test_only_runs_one_scenario(tmp_path):
    out = tmp_path / "results"

    assert main(["--quick", "--only", "saturation", "--out", str(out)]) == 0

    (path,) = out.glob("*.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["scenario"] == "saturation"
    assert set(document["results"]) == {*CONTENDERS, "gateway_no_memory"}
    ratios = document["table"][0]["ratios"]
    assert set(ratios) == {"gateway/asyncio", "gateway/pykka", "gateway/gateway_no_memory"}
    assert document["parameters"]["chats"] == 50
