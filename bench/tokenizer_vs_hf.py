#!/usr/bin/env python3
"""Encode throughput, ours vs Hugging Face `tokenizers`, single-threaded, same text, same run.

Builds the benchmark text the same way bench/tokenizer_bench.cpp does (the tokenizer test strings
plus the long document, repeated to ~4 MB, encoded line by line), times HF with
RAYON_NUM_THREADS=1 (encode in a loop, and encode_batch), then runs our tokenizer_bench binary on
that exact text and prints both in MB/s with the ratio.

Usage: python3 bench/tokenizer_vs_hf.py [--bench build-bench/bin/tokenizer_bench]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "tokenizers")


def bench_text():
    base = open(os.path.join(DATA, "long.txt"), encoding="utf-8", newline="").read()
    with open(os.path.join(DATA, "strings.jsonl"), encoding="utf-8") as f:
        for line in f:
            base += json.loads(line) + "\n"
    text = ""
    while len(text.encode("utf-8")) < 4_000_000:
        text += base
    return text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default=os.path.join(ROOT, "build-bench", "bin", "tokenizer_bench"))
    parser.add_argument("--tokenizer",
                        default=os.path.join(ROOT, "..", "shared", "fixtures", "qwen3-tokenizer",
                                             "tokenizer.json"))
    args = parser.parse_args()
    text = bench_text()
    # The same lines as the C++ bench: std::getline pieces, each with "\n" appended.
    parts = text.split("\n")
    if text.endswith("\n"):
        parts.pop()
    lines = [p + "\n" for p in parts]
    total = sum(len(l.encode("utf-8")) for l in lines)

    tok = Tokenizer.from_file(args.tokenizer)
    for l in lines[:2000]:
        tok.encode(l)  # warm the cache as the C++ bench's warm-up does
    best_loop = None
    for _ in range(3):
        start = time.perf_counter()
        for l in lines:
            tok.encode(l, add_special_tokens=False)
        elapsed = time.perf_counter() - start
        best_loop = elapsed if best_loop is None else min(best_loop, elapsed)
    start = time.perf_counter()
    tok.encode_batch(lines, add_special_tokens=False)
    batch = time.perf_counter() - start
    hf_loop = total / best_loop / 1e6
    hf_batch = total / batch / 1e6
    print(f"text: {total / 1e6:.2f} MB in {len(lines)} lines")
    print(f"HF tokenizers (1 thread), encode loop : {hf_loop:8.2f} MB/s")
    print(f"HF tokenizers (1 thread), encode_batch: {hf_batch:8.2f} MB/s")

    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        env = dict(os.environ, COREML_BENCH_TEXT=path)
        out = subprocess.run([args.bench, "--benchmark_format=json"], env=env, check=True,
                             capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    result = json.loads(out)["benchmarks"][0]
    ours = result["bytes_per_second"] / 1e6
    print(f"coreml-cpp (1 thread), encode loop    : {ours:8.2f} MB/s")
    print(f"ratio ours / HF (loop): {ours / hf_loop:.2f}x   ours / HF (batch): {ours / hf_batch:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
