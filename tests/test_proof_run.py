"""benchmarks/proof_run.py (the GPU proof stage of gpu_check.sh) at a toy size on the CPU: the budget
stops training with a checkpoint, and proof.json holds fidelity, flip rates and recovery."""

import json

from benchmarks import proof_run


def test_proof_run_stops_at_its_budget_and_reports(tmp_path):
    result = proof_run.main(["--out", str(tmp_path), "--device", "cpu", "--preset", "cpu-32", "--resolution", "32",
                             "--world-images", "120", "--minutes", "0.25", "--kimg", "1000", "--warmup-kimg", "0.02",
                             "--batch", "4", "--attfind-images", "3", "--top-k", "2"])
    assert result["interrupted_by_budget"] is True and 0 < result["kimg"] < 1000
    saved = json.loads((tmp_path / "proof.json").read_text())
    assert saved["kimg"] == result["kimg"]
    assert set(saved["fidelity"]["factor_fidelity"]) >= {"smile", "glasses", "eye_size", "pose"}
    assert set(saved["flip_rate"]) == {"attfind", "random", "wu"}
    assert all(0 <= v <= 1 for v in saved["flip_rate"].values())
    assert saved["recovery_label"]["factor"] == "smile"
