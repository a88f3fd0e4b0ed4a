#!/usr/bin/env python3
"""Converted vision, speech and transformer models: ours vs ONNX Runtime vs PyTorch eager.

For each model of model_zoo.py (random weights, fixed seed) this converts the PyTorch module
with coremltools (ML Program, fp32 and fp16 compute precision), exports the same module with
torch.onnx.export, then times, interleaved in one run and for each thread count:
  ours  `coreml run MODEL --input ... --steps N --threads T --json` (median step, peak RSS),
  ORT   onnxruntime, default CPU execution provider, intra-op threads T,
  torch eager, torch.set_num_threads(T), OMP_WAIT_POLICY=PASSIVE,
and prints medians, ratios (ours / theirs: < 1 means we are faster) and our output's largest
error against PyTorch's. Before and after each multithreaded measurement it times a cache line's
round trip between two cores (bench/core_latency_bench.cpp, when built next to --coreml): a VM's
vCPUs sit close or far apart on the host for minutes at a time, and the far placement slows
multithreaded runs. See README.md next to this file.

The first run creates a virtual environment (--venv; it reuses matching system packages) and
installs requirements.txt (PyTorch 2.7.0, coremltools 9.0, ONNX Runtime) from PyPI into it, then
re-runs itself there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_VENV = Path.home() / ".cache" / "coreml-cpp" / "bench-models-venv"


def ensure_environment(venv: Path) -> None:
    """Re-executes inside `venv` (made and filled on first use) unless already there."""
    if os.environ.get("COREML_BENCH_MODELS_ENV") == str(venv):
        return
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} (reuses system packages that match requirements.txt)", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    subprocess.check_call([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "-r", str(HERE / "requirements.txt")])
    env = dict(os.environ, COREML_BENCH_MODELS_ENV=str(venv), OMP_WAIT_POLICY="PASSIVE")
    os.execve(str(python), [str(python), __file__, *sys.argv[1:]], env)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="all",
                   help="comma-separated subset of: " + ", ".join(
                       ["resnet18", "resnet50", "mobilenetv3s", "efficientnetb0", "deit_tiny",
                        "vit_b16", "bert_base", "gpt2_small", "whisper_tiny_enc", "unet"]))
    p.add_argument("--precisions", default="fp32,fp16", help="Core ML variants: fp32, fp16")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--steps", type=int, default=5,
                   help="timed predictions per measurement, at least")
    p.add_argument("--min-ms", type=float, default=150.0,
                   help="more timed predictions for small models, until they take about this "
                        "long (by ONNX Runtime's time), at most --max-steps")
    p.add_argument("--max-steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds (ours, ORT, torch); medians over rounds are quoted")
    p.add_argument("--coreml", default=str(REPO / "build" / "bin" / "coreml"))
    p.add_argument("--baseline-coreml",
                   help="another build of the CLI (e.g. before a change), timed in the same rounds")
    p.add_argument("--workdir", default="/tmp/coreml-bench-models",
                   help="converted models, inputs and outputs (reused when present)")
    p.add_argument("--reconvert", action="store_true", help="convert and export again")
    p.add_argument("--prepare-only", action="store_true", help="convert and export, time nothing")
    p.add_argument("--venv", default=str(DEFAULT_VENV))
    p.add_argument("--json", help="also write every measurement to this file")
    p.add_argument("--core-probe",
                   help="core_latency_bench to time cross-core round trips with (default: next "
                        "to --coreml; built with -DCOREML_BUILD_BENCHMARKS=ON)")
    p.add_argument("--extra-env", action="append", default=[],
                   help="NAME=VALUE for our runs only (e.g. COREML_FUSION=0); repeatable")
    return p.parse_args()


# ---- model preparation ------------------------------------------------------------------------

def prepare(spec, workdir: Path, precisions: list[str], reconvert: bool):
    """Converts and exports one model; returns (module, inputs, paths)."""
    import numpy as np
    import torch

    from model_zoo import SPECS  # noqa: F401 (spec comes from it)

    torch.manual_seed(0)
    module = spec.build()
    inputs = spec.inputs()
    d = workdir / spec.name
    d.mkdir(parents=True, exist_ok=True)
    paths = {"onnx": d / "model.onnx", "inputs": {}}
    for name, t in inputs.items():
        paths["inputs"][name] = d / f"{name}.npy"
        np.save(paths["inputs"][name], t.numpy())
    for precision in precisions:
        paths[precision] = d / f"model_{precision}.mlpackage"
        if reconvert or not paths[precision].exists():
            convert(module, inputs, spec, precision, paths[precision])
    if reconvert or not paths["onnx"].exists():
        export_onnx(module, inputs, spec, paths["onnx"])
    return module, inputs, paths


def convert(module, inputs, spec, precision: str, out: Path) -> None:
    import coremltools as ct
    import numpy as np
    import torch

    print(f"  converting {spec.name} ({precision})", flush=True)
    t0 = time.time()
    with torch.no_grad():
        traced = torch.jit.trace(module, tuple(inputs.values()))
    ct_inputs = []
    for name, t in inputs.items():
        shape = list(t.shape)
        if name in spec.flexible:
            dim, lo, hi = spec.flexible[name]
            shape[dim] = ct.RangeDim(lower_bound=lo, upper_bound=hi, default=t.shape[dim])
        dtype = np.int32 if t.dtype in (torch.int32, torch.int64) else np.float32
        ct_inputs.append(ct.TensorType(name=name, shape=shape, dtype=dtype))
    model = ct.convert(
        traced, inputs=ct_inputs, outputs=[ct.TensorType(name="output")],
        convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
        compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16)
    model.save(str(out))
    print(f"    {time.time() - t0:.1f} s", flush=True)


def export_onnx(module, inputs, spec, out: Path) -> None:
    import torch

    print(f"  exporting {spec.name} to ONNX", flush=True)
    dynamic = {name: {dim: "length"} for name, (dim, _, _) in spec.flexible.items()}
    with torch.no_grad():
        torch.onnx.export(module, tuple(inputs.values()), str(out), input_names=list(inputs),
                          output_names=["output"], dynamic_axes=dynamic or None, opset_version=17,
                          dynamo=False)


# ---- timing -----------------------------------------------------------------------------------

def time_ours(coreml: str, model: Path, input_paths: dict, threads: int, steps: int,
              outdir: Path, extra_env: dict, warmup: int = 1) -> dict:
    timing = ["--warmup", str(warmup), "--steps", str(steps)]
    cmd = [coreml, "run", str(model), *timing, "--threads", str(threads), "--json",
           "--output-dir", str(outdir)]
    for name, path in input_paths.items():
        cmd += ["--input", f"{name}={path}"]
    proc = subprocess.run(cmd, capture_output=True, env=dict(os.environ, **extra_env))
    if proc.returncode != 0 and b"--warmup" in proc.stderr:
        # A build older than `coreml run --warmup`: as many more steps instead (the first plans
        # and packs; the median of all is what counts).
        cmd[3:7] = ["--steps", str(steps + warmup)]
        proc = subprocess.run(cmd, capture_output=True, env=dict(os.environ, **extra_env))
    if proc.returncode != 0:
        raise RuntimeError(f"coreml run failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    stdout = proc.stdout
    result = json.loads(stdout)
    # The first prediction plans memory and packs; the median of the others is the steady state.
    return {"ms": result["median_ms"], "first_ms": result["first_ms"], "load_ms": result["load_ms"],
            "rss_mb": result.get("peak_rss_bytes", float("nan")) / 2**20,
            "activation_mb": result["peak_activation_bytes"] / 2**20}


def time_loop(fn, steps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def time_ort(session, feeds: dict, steps: int, warmup: int = 1) -> float:
    return time_loop(lambda: session.run(None, feeds), steps, warmup)


def time_torch(module, inputs: dict, threads: int, steps: int, warmup: int = 1) -> float:
    import torch

    torch.set_num_threads(threads)
    with torch.inference_mode():
        return time_loop(lambda: module(*inputs.values()), steps, warmup)


def steps_for(session, feeds: dict, args) -> tuple[int, int]:
    """Timed and warm-up steps of every measurement of one model and thread count: at least
    --steps, and enough that the timed ones last about --min-ms by ONNX Runtime's time (a model
    of 2 ms timed over 5 steps right after a process starts measured the machine's noise: its
    median moved between 1.7 and 6 ms); a fifth as many warm-up steps, the same for all three."""
    once = time_loop(lambda: session.run(None, feeds), 3)
    steps = max(args.steps, min(args.max_steps, math.ceil(args.min_ms / max(once, 1e-3))))
    return steps, max(1, steps // 5)


def ort_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# A cache line's round trip between two cores, in ns, above which the vCPUs sat far apart (the
# Zen 4 VMs of the README: 70-160 ns close, 310-630 ns far).
FAR_ROUND_TRIP_NS = 200.0


def core_round_trip_ns(probe: Path | None) -> float:
    """One reading of core_latency_bench (nan when it is missing or fails)."""
    if probe is None:
        return float("nan")
    try:
        proc = subprocess.run([str(probe), "--benchmark_format=json", "--benchmark_min_time=0.05"],
                              capture_output=True, timeout=60, check=False)
        runs = json.loads(proc.stdout.decode())["benchmarks"]
        return float(runs[0]["round_trip_ns"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return float("nan")


def one_op_input(workdir: Path) -> Path:
    """The one-op models' input (zeros, [1, 3, 8, 8]), saved as .npy."""
    import numpy as np

    x = workdir / "process_rss_x.npy"
    np.save(x, np.zeros((1, 3, 8, 8), np.float32))
    return x


def process_rss_mb(coreml: str, workdir: Path) -> float:
    """Peak RSS of `coreml run` on a one-op model (the repository's 8 x 8 conv): the process,
    its libraries and a run's fixed costs, which the models' memory budgets do not count."""
    model = REPO / "tests" / "data" / "models" / "conv.mlpackage"
    x = one_op_input(workdir)
    proc = subprocess.run([coreml, "run", str(model), "--input", f"x={x}", "--steps", "3",
                           "--json"], capture_output=True, check=False)
    try:
        return json.loads(proc.stdout)["peak_rss_bytes"] / 2**20
    except (ValueError, KeyError):
        return float("nan")


# Peak RSS of a process that loads an ONNX model in ONNX Runtime and runs it three times: the
# same measurement as ours (`coreml run --steps 3`), in a process of its own.
ORT_RSS_SCRIPT = """
import sys
import numpy as np, onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads = int(sys.argv[2])
options.inter_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
feeds = {a.split("=", 1)[0]: np.load(a.split("=", 1)[1]) for a in sys.argv[3:]}
for _ in range(3):
    session.run(None, feeds)
# VmHWM, as `coreml run` reports it: ru_maxrss would keep the parent's peak across the exec.
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) * 1024)
"""


def ort_rss_mb(onnx_path: Path, feed_paths: dict, threads: int) -> float:
    """Peak RSS of ORT_RSS_SCRIPT on `onnx_path` with the .npy feeds (nan when it fails)."""
    cmd = [sys.executable, "-c", ORT_RSS_SCRIPT, str(onnx_path), str(threads),
           *[f"{n}={f}" for n, f in feed_paths.items()]]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    try:
        return int(proc.stdout.decode().split()[-1]) / 2**20
    except (ValueError, IndexError):
        return float("nan")


def ort_process_rss_mb(workdir: Path, threads: int) -> float:
    """ORT_RSS_SCRIPT's peak RSS on a one-op model (an 8 x 8 conv, as for ours)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = workdir / "process_rss.onnx"
    weight = numpy_helper.from_array(np.ones((2, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])], "one_op",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    return ort_rss_mb(model, {"x": one_op_input(workdir)}, threads)


def weight_mb(model: Path) -> float:
    """The model's weight files (an .mlpackage's weights folder)."""
    folder = model / "Data" / "com.apple.CoreML" / "weights"
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def geomean(values: list[float]) -> float:
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main() -> int:
    args = parse_args()
    ensure_environment(Path(args.venv))
    sys.path.insert(0, str(HERE))
    import numpy as np
    import torch

    from model_zoo import SPECS

    names = list(SPECS) if args.models == "all" else args.models.split(",")
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        print(f"unknown models: {unknown}; known: {list(SPECS)}", file=sys.stderr)
        return 2
    if not args.prepare_only and not Path(args.coreml).exists():
        print(f"{args.coreml} not found (build the coreml target or pass --coreml)", file=sys.stderr)
        return 2
    precisions = args.precisions.split(",")
    thread_counts = [int(t) for t in args.threads.split(",")]
    extra_env = dict(kv.split("=", 1) for kv in args.extra_env)
    workdir = Path(args.workdir)
    probe = Path(args.core_probe) if args.core_probe else \
        Path(args.coreml).resolve().parent / "core_latency_bench"
    if not probe.exists():
        if max(thread_counts) > 1 and not args.prepare_only:
            print(f"{probe} not found: cross-core round trips are not timed (configure with "
                  "-DCOREML_BUILD_BENCHMARKS=ON and build core_latency_bench)", flush=True)
        probe = None

    # The memory target: peak RSS <= weights + largest activation set + 10 %. Ours is
    # measured as the RSS above a one-op model's run, against the weight files plus the plan's
    # arena plus the prediction's inputs and outputs.
    process_mb = float("nan") if args.prepare_only else process_rss_mb(args.coreml, workdir)
    ort_process_mb = {}  # by thread count
    rows = []
    for name in names:
        print(f"== {name}", flush=True)
        module, inputs, paths = prepare(SPECS[name], workdir, precisions, args.reconvert)
        if args.prepare_only:
            continue
        with torch.inference_mode():
            reference = module(*inputs.values()).numpy()
        feeds = {n: t.numpy() for n, t in inputs.items()}  # the dtypes the export saw
        feed_paths = {}
        for n, value in feeds.items():
            feed_paths[n] = workdir / name / f"ort_feed_{n}.npy"
            np.save(feed_paths[n], value)
        for threads in thread_counts:
            # ONNX Runtime's RSS the way ours is measured (above its one-op model's run), against
            # the fp32 budget: it runs the fp32 export for both precisions.
            if threads not in ort_process_mb:
                ort_process_mb[threads] = ort_process_rss_mb(workdir, threads)
            ort_rss = ort_rss_mb(paths["onnx"], feed_paths, threads)
            # Probed with no ONNX Runtime session alive (its threads spin after each run).
            round_trips = [core_round_trip_ns(probe)] if threads > 1 else []
            session = ort_session(paths["onnx"], threads)
            steps, warmup = steps_for(session, feeds, args)
            samples = {"ort": [], "torch": [], **{p: [] for p in precisions}}
            extra = {p: [] for p in precisions}
            base = {p: [] for p in precisions}
            for _ in range(args.rounds):
                for p in precisions:
                    if args.baseline_coreml:
                        outdir = workdir / name / f"base_{p}"
                        base[p].append(time_ours(args.baseline_coreml, paths[p], paths["inputs"],
                                                 threads, steps, outdir, extra_env,
                                                 warmup)["ms"])
                    outdir = workdir / name / f"out_{p}"
                    r = time_ours(args.coreml, paths[p], paths["inputs"], threads, steps, outdir,
                                  extra_env, warmup)
                    samples[p].append(r["ms"])
                    extra[p].append(r)
                samples["ort"].append(time_ort(session, feeds, steps, warmup))
                samples["torch"].append(time_torch(module, inputs, threads, steps, warmup))
            del session
            if threads > 1:
                round_trips.append(core_round_trip_ns(probe))
                print(f"  cross-core round trip before / after T={threads}: "
                      f"{round_trips[0]:.0f} / {round_trips[1]:.0f} ns", flush=True)
            ort_ms = statistics.median(samples["ort"])
            torch_ms = statistics.median(samples["torch"])
            for p in precisions:
                ours = np.load(workdir / name / f"out_{p}" / "output.npy").astype(np.float64)
                err = float(np.max(np.abs(ours - reference))) if ours.shape == reference.shape \
                    else float("nan")
                scale = float(np.max(np.abs(reference))) or 1.0
                ms = statistics.median(samples[p])
                rss = max((e["rss_mb"] for e in extra[p] if math.isfinite(e["rss_mb"])),
                          default=float("nan"))
                base_ms = statistics.median(base[p]) if base[p] else float("nan")
                io_mb = (sum(Path(f).stat().st_size for f in paths["inputs"].values()) +
                         (workdir / name / f"out_{p}" / "output.npy").stat().st_size) / 2**20
                budget_mb = weight_mb(paths[p]) + extra[p][-1]["activation_mb"] + io_mb
                if p == "fp32":
                    fp32_budget_mb = budget_mb
                rows.append({"model": name, "precision": p, "threads": threads, "steps": steps,
                             "warmup": warmup, "ours_ms": ms,
                             "base_ms": base_ms, "base_vs_ort": base_ms / ort_ms,
                             "base_vs_torch": base_ms / torch_ms,
                             "ort_ms": ort_ms, "torch_ms": torch_ms, "vs_ort": ms / ort_ms,
                             "vs_torch": ms / torch_ms, "max_abs_err": err,
                             "max_rel_err": err / scale, "rss_mb": rss,
                             "activation_mb": extra[p][-1]["activation_mb"],
                             "process_rss_mb": process_mb, "budget_mb": budget_mb,
                             "rss_vs_budget": (rss - process_mb) / budget_mb,
                             "ort_rss_mb": ort_rss, "ort_process_rss_mb": ort_process_mb[threads],
                             "ort_rss_vs_budget": (ort_rss - ort_process_mb[threads]) /
                             fp32_budget_mb if p == "fp32" else float("nan"),
                             "core_round_trip_ns": round_trips,
                             "samples": {"ours": samples[p], "base": base[p], "ort": samples["ort"],
                                         "torch": samples["torch"]}})
                print(f"  {p} T={threads}: ours {ms:9.2f} ms  ORT {ort_ms:9.2f}  torch "
                      f"{torch_ms:9.2f}  vs ORT {ms / ort_ms:5.2f}x  vs torch "
                      f"{ms / torch_ms:5.2f}x  err {err:.2e} ({err / scale:.1e} rel)  "
                      f"RSS {rss:.0f} MB" + (f"  baseline {base_ms:.2f} ms" if base[p] else ""),
                      flush=True)

    with_base = bool(args.baseline_coreml)
    head = "| model | prec | T | ours ms | ORT ms | torch ms | ours/ORT | ours/torch |"
    if with_base:
        head += " baseline ms | baseline/ORT | baseline/torch |"
    head += " max err (rel) | our RSS MB | RSS/budget | ORT RSS/budget | x-core ns |"
    print("\n" + head)
    print("|" + " --- |" * (head.count("|") - 1))
    for r in rows:
        line = (f"| {r['model']} | {r['precision']} | {r['threads']} | {r['ours_ms']:.1f} | "
                f"{r['ort_ms']:.1f} | {r['torch_ms']:.1f} | {r['vs_ort']:.2f}× | "
                f"{r['vs_torch']:.2f}× |")
        if with_base:
            line += (f" {r['base_ms']:.1f} | {r['base_vs_ort']:.2f}× | "
                     f"{r['base_vs_torch']:.2f}× |")
        trips = "/".join(f"{t:.0f}" for t in r["core_round_trip_ns"])
        ort_memory = f"{r['ort_rss_vs_budget']:.2f}" if math.isfinite(r["ort_rss_vs_budget"]) \
            else "–"
        print(line + f" {r['max_abs_err']:.1e} ({r['max_rel_err']:.0e}) | {r['rss_mb']:.0f} | "
              f"{r['rss_vs_budget']:.2f} | {ort_memory} | {trips} |")
    for threads in thread_counts:
        sel = [r for r in rows if r["threads"] == threads]
        text = (f"geometric mean, {threads} thread(s): ours/ORT "
                f"{geomean([r['vs_ort'] for r in sel]):.2f}×, ours/torch "
                f"{geomean([r['vs_torch'] for r in sel]):.2f}×")
        if with_base:
            text += (f"; baseline/ORT {geomean([r['base_vs_ort'] for r in sel]):.2f}×, "
                     f"baseline/torch {geomean([r['base_vs_torch'] for r in sel]):.2f}×")
        print(text)
    over = sorted({(r["model"], r["precision"]) for r in rows if r["rss_vs_budget"] > 1.1})
    print(f"memory: RSS above a one-op model's run ({process_mb:.0f} MB) against weights + arena + "
          f"inputs and outputs; over the budget + 10 %: "
          + (", ".join(f"{m} {p}" for m, p in over) if over else "none"))
    far = [r for r in rows if any(t > FAR_ROUND_TRIP_NS for t in r["core_round_trip_ns"])]
    if far:
        print(f"{len(far)} multithreaded cell(s) ran while a cross-core round trip took more than "
              f"{FAR_ROUND_TRIP_NS:.0f} ns (x-core ns, before/after): the vCPUs sat far apart "
              "for at least part of them, which slows multithreaded runs (ours more than ORT's)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
