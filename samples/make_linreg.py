#!/usr/bin/env python3
"""Make samples/linreg.csv: 200 points on the line y = 3x - 1.5 with Gaussian noise.

    python samples/make_linreg.py            # rewrites samples/linreg.csv (the same file every time)

The seed is fixed, so the file is reproducible; `cgraph train samples/linreg.cg --data
samples/linreg.csv` should recover the slope 3 and intercept -1.5 within 1% (the tests
check it, and compare with the least-squares solution of the same rows).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SLOPE, INTERCEPT, NOISE, ROWS, SEED = 3.0, -1.5, 0.1, 200, 20240601


def rows(n: int = ROWS, seed: int = SEED) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        x = rng.uniform(-2.0, 2.0)
        points.append((round(x, 6), round(SLOPE * x + INTERCEPT + rng.gauss(0.0, NOISE), 6)))
    return points


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("linreg.csv")
    text = "x,y\n" + "".join(f"{x!r},{y!r}\n" for x, y in rows())
    target.write_text(text)
    print(f"wrote {ROWS} rows to {target}")


if __name__ == "__main__":
    main()
