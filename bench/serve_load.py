#!/usr/bin/env python3
"""Load test for `coreml serve`: requests/s and generated tokens/s at 1, 2 and 4 concurrent
clients (standard library only).

  coreml serve --model M --parallel 4 &
  python3 bench/serve_load.py --url http://127.0.0.1:8080 [--requests 8] [--max-tokens 64]

Each client sends its requests one after another (non-streaming chat completions with distinct
prompts, ignore_eos so every reply has max_tokens tokens); throughput counts the server's
reported usage.completion_tokens over the wall time of the whole level.
"""
import argparse
import json
import threading
import time
import urllib.request


def post(url, body, key):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def model_name(base, key):
    headers = {"Authorization": "Bearer " + key} if key else {}
    request = urllib.request.Request(base + "/v1/models", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["data"][0]["id"]


def run_level(args, model, clients):
    tokens, latencies, errors = [], [], []
    lock = threading.Lock()

    def client(index):
        for k in range(args.requests):
            body = {"model": model, "max_tokens": args.max_tokens, "ignore_eos": True,
                    "temperature": 0.7, "seed": k,
                    "messages": [{"role": "user",
                                  "content": f"Client {index}, request {k}: tell me a story."}]}
            start = time.perf_counter()
            try:
                reply = post(args.url + "/v1/chat/completions", body, args.api_key)
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(str(e))
                continue
            with lock:
                latencies.append(time.perf_counter() - start)
                tokens.append(reply["usage"]["completion_tokens"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    return {"clients": clients, "requests": len(tokens), "errors": len(errors),
            "requests_per_s": len(tokens) / wall, "tokens_per_s": sum(tokens) / wall,
            "median_latency_s": latencies[len(latencies) // 2] if latencies else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--requests", type=int, default=8, help="requests per client")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--levels", default="1,2,4", help="concurrent clients per level")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = model_name(args.url, args.api_key)
    results = [run_level(args, model, int(n)) for n in args.levels.split(",")]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>8} {'tok/s':>8} "
          f"{'median s':>9}")
    for r in results:
        median = f"{r['median_latency_s']:.3f}" if r["median_latency_s"] is not None else "-"
        print(f"{r['clients']:>7} {r['requests']:>8} {r['errors']:>6} {r['requests_per_s']:>8.2f} "
              f"{r['tokens_per_s']:>8.1f} {median:>9}")


if __name__ == "__main__":
    main()
