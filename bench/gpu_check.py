"""Does the shipped model find a GPU by itself, and how long does a key frame take there?

    python bench/gpu_check.py          # writes $OUT/gpu_check.json (or /tmp) and prints it

Prints the GPUs Keras sees, the precision and batch size the model chose for itself, the load
time (the first load also converts the embedder), and milliseconds per 224x320 key frame at
batch 8 and 32 (random lightness; two warm-up calls, then ten timed).
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
out = os.environ.get("OUT", "/tmp")
from vidcolor.model import gpus, load_colorizer  # noqa: E402

t = time.time()
c = load_colorizer()
res = {"gpus": [str(g) for g in gpus()], "precision": c.precision, "batch_size": c.batch_size,
       "load_s": round(time.time() - t, 1)}
rng = np.random.default_rng(0)
for batch in (8, 32):
    light = (rng.random((batch, 224, 320)) * 100).astype(np.float32)
    emb = rng.standard_normal((batch, 1000)).astype(np.float32)
    for _ in range(2):
        c.predict_ab(light, emb)
    t, n = time.time(), 10
    for _ in range(n):
        c.predict_ab(light, emb)
    res[f"ms_per_frame_batch{batch}"] = round((time.time() - t) / (n * batch) * 1000, 3)
print(json.dumps(res), flush=True)
with open(os.path.join(out, "gpu_check.json"), "w") as f:
    json.dump(res, f)
