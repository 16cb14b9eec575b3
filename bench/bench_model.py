"""The model's time per key frame, two weights files side by side in one process.

    python bench/bench_model.py OLD.weights.h5 NEW.weights.h5 [--size 224x320] [--batch 8]
                                [--precisions mixed_bfloat16,float32] [--threads 1] [--repeats 5]

Each model colours batches of random lightness at the given size; runs alternate between the
models so that a noisy machine slows both alike. Prints the median milliseconds per frame and
the ratio new / old for each precision. --threads sets TensorFlow's intra-op pool (the remaster
gives the model one core on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs=2)
    parser.add_argument("--size", default="224x320")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--precisions", default="mixed_bfloat16,float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    import numpy as np

    from vidcolor.model import load_colorizer

    h, w = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    light = rng.uniform(0, 100, (args.batch, h, w)).astype(np.float32)
    embedding = rng.normal(size=(args.batch, 1000)).astype(np.float32)
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    print(f"{h}x{w}, batch {args.batch}, {args.threads} thread(s); CPU has AMX: {'amx_bf16' in flags}, "
          f"AVX-512 BF16: {'avx512_bf16' in flags}")
    for precision in args.precisions.split(","):
        models = [load_colorizer(path, precision=precision) for path in args.weights]
        times: list[list[float]] = [[], []]
        for model in models:
            model.predict_ab(light, embedding)  # trace and warm up
        for _ in range(args.repeats):
            for i, model in enumerate(models):
                start = time.perf_counter()
                model.predict_ab(light, embedding)
                times[i].append((time.perf_counter() - start) * 1000 / args.batch)
        old, new = (statistics.median(t) for t in times)
        names = [f"{m.config.architecture}" for m in models]
        print(f"{precision:>15}: {names[0]} {old:7.1f} ms/frame, {names[1]} {new:7.1f} ms/frame, ratio {new / old:.2f}")


if __name__ == "__main__":
    main()
