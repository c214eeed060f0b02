"""Predict the second-lease runs (bench/gpu_bench.py --set 2) before measuring them.

    python bench/heldout_predict.py > bench/data/heldout_predictions.txt

Uses advisor.core.speed with its committed H100 constants and llama.cpp's simulated type mix
(advisor.core.quantize), so the comparison in bench/speed_accuracy.py --heldout is out of sample.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from advisor.catalog.models_catalog import get_model
from advisor.core.speed import SpeedInputs, predict_speed, weights_for
from bench.gpu_bench import PLANS_2
from bench.speed_accuracy import h100


def main() -> None:
    for plan in PLANS_2:
        shape = get_model(plan.model_id).to_shape()
        for pi, preset in enumerate(plan.presets):
            w = weights_for(shape, preset)
            for depth in (0, *(plan.depths if pi == 0 else ())):
                p = predict_speed(SpeedInputs(shape, w, (h100(),), depth=depth), curve_depths=())
                print(
                    json.dumps(
                        {
                            "model_id": plan.model_id,
                            "preset": preset,
                            "depth": depth,
                            "decode_tps": round(p.decode_tps, 1),
                            "prefill_tps": round(p.prefill_tps, 1),
                        }
                    )
                )


if __name__ == "__main__":
    main()
