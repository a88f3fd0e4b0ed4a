#!/usr/bin/env python3
"""`coreml serve` driven by the real OpenAI Python client (PyPI `openai`) and raw HTTP.

Expected values come from outside the server: the prompt is what jinja2 renders from the model's
chat template (as transformers' apply_chat_template does) tokenized by Hugging Face `tokenizers`;
the replies are what `coreml generate --json` prints for the same prompt and sampling settings.

Run by ctest:  server_openai_test.py --cli build/bin/coreml --model tests/data/anemll/tiny-qwen3
The PyPI packages (openai, jinja2, tokenizers) are installed into a venv when missing: --venv, by
default ~/.cache/coreml-cpp/server-test-venv (shared by the Release and sanitizer builds).
"""
import argparse
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

PACKAGES = ["openai", "jinja2", "tokenizers"]
API_KEY = "test-key-123"


def ensure_packages(venv):
    try:
        import jinja2  # noqa: F401
        import openai  # noqa: F401
        import tokenizers  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("COREML_SERVER_TEST_IN_VENV"):
        sys.exit("server_openai_test: packages still missing inside " + venv)
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        os.makedirs(os.path.dirname(venv), exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
                   + PACKAGES, check=True)
    env = dict(os.environ, COREML_SERVER_TEST_IN_VENV="1")
    os.execve(python, [python] + sys.argv, env)


ARGS = None
FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL:", message, flush=True)


def check_eq(got, expected, what):
    check(got == expected, f"{what}: got {got!r}, expected {expected!r}")


# --- independent references ---------------------------------------------------------------

def load_template():
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    with open(os.path.join(ARGS.model, "tokenizer_config.json")) as f:
        config = json.load(f)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, indent=None):
        return json.dumps(value, ensure_ascii=False, indent=indent)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    template = env.from_string(config["chat_template"])
    specials = {k: config.get(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    return template, specials


def hf_tokenizer():
    from tokenizers import Tokenizer
    return Tokenizer.from_file(os.path.join(ARGS.model, "tokenizer.json"))


def reference_prompt_ids(messages, **kwargs):
    template, specials = load_template()
    text = template.render(messages=messages, add_generation_prompt=True, **specials, **kwargs)
    return hf_tokenizer().encode(text, add_special_tokens=False).ids


def split_reasoning(text):
    """The reasoning APIs' rule: a <think> block at the start of the reply (after whitespace) is
    reasoning_content, trimmed; the reply after </think> starts at its first non-blank."""
    blanks = " \n\r\t"
    stripped = text.lstrip(blanks)
    if not stripped.startswith("<think>"):
        return None, text
    inner, _, reply = stripped[len("<think>"):].partition("</think>")
    return inner.strip(blanks), reply.lstrip(blanks)


CLI_CACHE = {}


def cli_generate(prompt, max_tokens, temperature=None, seed=None, stop=None, raw=False):
    key = (prompt, max_tokens, temperature, seed, tuple(stop or ()), raw)
    if key not in CLI_CACHE:
        cmd = [ARGS.cli, "generate", "--model", ARGS.model, "--prompt", prompt, "--json",
               "--max-tokens", str(max_tokens)]
        if temperature is not None:
            cmd += ["--temperature", str(temperature)]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        for s in stop or ():
            cmd += ["--stop", s]
        if raw:
            cmd.append("--no-chat-template")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        CLI_CACHE[key] = json.loads(out)
    return CLI_CACHE[key]


# --- the server ------------------------------------------------------------------------------

class Server:
    def __init__(self, *extra):
        cmd = [ARGS.cli, "serve", "--model", ARGS.model, "--port", "0", "--model-name", "tiny",
               "--api-key", API_KEY, *extra]
        self.process = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        self.log = []
        port = None
        for line in self.process.stderr:
            self.log.append(line)
            match = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
        if port is None:
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        self.url = f"http://127.0.0.1:{port}"
        self.reader = threading.Thread(target=self._read_log, daemon=True)
        self.reader.start()

    def _read_log(self):
        for line in self.process.stderr:
            self.log.append(line)

    def client(self, key=API_KEY):
        import openai
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=300)

    def raw(self, method, path, body=None, key=API_KEY, data=None):
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = "Bearer " + key
        if data is None and body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)


def user(text):
    return [{"role": "user", "content": text}]


# --- tests -------------------------------------------------------------------------------------

def test_models(server):
    models = server.client().models.list()
    check_eq([m.id for m in models.data], ["tiny"], "/v1/models ids")


def test_chat_non_stream(server):
    expected = cli_generate("Hello there", 12, temperature=0)
    r = server.client().chat.completions.create(model="tiny", messages=user("Hello there"),
                                                max_tokens=12, temperature=0)
    reasoning, content = split_reasoning(expected["text"])
    check_eq(r.choices[0].message.content, content, "chat content")
    check_eq(r.choices[0].finish_reason, expected["finish_reason"], "chat finish_reason")
    prompt_ids = reference_prompt_ids(user("Hello there"))
    check_eq(expected["prompt_token_ids"], prompt_ids, "coreml generate's prompt vs jinja2+HF")
    check_eq(r.usage.prompt_tokens, len(prompt_ids), "usage.prompt_tokens")
    check_eq(r.usage.completion_tokens, len(expected["token_ids"]), "usage.completion_tokens")
    check_eq(r.usage.total_tokens, len(prompt_ids) + len(expected["token_ids"]), "total_tokens")


def test_chat_stream(server):
    expected = cli_generate("Tell me a story", 20, temperature=0.7, seed=5)
    stream = server.client().chat.completions.create(
        model="tiny", messages=user("Tell me a story"), max_tokens=20, temperature=0.7, seed=5,
        stream=True, stream_options={"include_usage": True})
    text, finish, usage, roles = "", None, None, []
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    check_eq(roles, ["assistant"], "stream role chunk")
    check_eq(text, split_reasoning(expected["text"])[1], "streamed text")
    check_eq(finish, expected["finish_reason"], "stream finish_reason")
    check(usage is not None, "stream usage chunk present")
    if usage:
        check_eq(usage.completion_tokens, len(expected["token_ids"]), "stream completion_tokens")
        check_eq(usage.prompt_tokens, len(reference_prompt_ids(user("Tell me a story"))),
                 "stream prompt_tokens")


def test_stop(server):
    full = cli_generate("Once upon a time", 16, temperature=0)["text"]
    stop = full[len(full) // 2: len(full) // 2 + 3]
    check(len(stop) == 3, "reply long enough for a stop string")
    r = server.client().chat.completions.create(model="tiny", messages=user("Once upon a time"),
                                                max_tokens=16, temperature=0, stop=[stop])
    check_eq(r.choices[0].message.content, full[:full.find(stop)], "text cut at the stop string")
    check_eq(r.choices[0].finish_reason, "stop", "finish_reason with a stop string")


def test_seed(server):
    client = server.client()
    kwargs = dict(model="tiny", messages=user("Pick a word"), max_tokens=10, temperature=1.0,
                  top_p=0.95, seed=11)
    a = client.chat.completions.create(**kwargs).choices[0].message.content
    b = client.chat.completions.create(**kwargs).choices[0].message.content
    check_eq(a, b, "same seed, same reply")
    expected = cli_generate("Pick a word", 10, temperature=1.0, seed=11)
    # coreml generate has no --top-p here: compare the top_p=1 request with it
    kwargs.pop("top_p")
    c = client.chat.completions.create(**kwargs).choices[0].message.content
    check_eq(c, split_reasoning(expected["text"])[1], "seeded reply equals coreml generate")


def test_completions(server):
    expected = cli_generate("The quick brown fox", 12, temperature=0, raw=True)
    r = server.client().completions.create(model="tiny", prompt="The quick brown fox",
                                           max_tokens=12, temperature=0)
    check_eq(r.choices[0].text, expected["text"], "completion text")
    ids = hf_tokenizer().encode("The quick brown fox", add_special_tokens=True).ids
    check_eq(r.usage.prompt_tokens, len(ids), "completion prompt_tokens")


def test_thinking_off(server):
    r = server.client().chat.completions.create(
        model="tiny", messages=user("Hi"), max_tokens=4, temperature=0,
        extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    check_eq(r.usage.prompt_tokens, len(reference_prompt_ids(user("Hi"), enable_thinking=False)),
             "prompt tokens with enable_thinking=false")


def test_tokenize(server):
    tok = hf_tokenizer()
    text = "Hello world, <|im_start|>again"
    status, _, body = server.raw("POST", "/tokenize", {"content": text})
    check_eq(status, 200, "/tokenize status")
    ids = json.loads(body)["tokens"]
    check_eq(ids, tok.encode(text, add_special_tokens=False).ids, "/tokenize ids")
    status, _, body = server.raw("POST", "/detokenize", {"tokens": ids})
    check_eq(json.loads(body)["content"], tok.decode(ids, skip_special_tokens=False),
             "/detokenize text")


def test_errors(server):
    import openai
    client = server.client()
    cases = [
        (openai.NotFoundError, dict(model="nope", messages=user("x"))),
        (openai.BadRequestError, dict(model="tiny", messages=user("x"), n=2)),
        (openai.BadRequestError, dict(model="tiny", messages=user("x"), temperature=5)),
        (openai.BadRequestError, dict(model="tiny", messages=user("word " * 200))),
        (openai.BadRequestError, dict(model="tiny", messages=[{"role": "robot", "content": "x"}])),
    ]
    for error_type, kwargs in cases:
        try:
            client.chat.completions.create(**kwargs)
            check(False, f"no error for {kwargs}")
        except error_type as e:
            check(isinstance(e.body, dict) and "message" in e.body, f"error body for {kwargs}")
        except Exception as e:  # noqa: BLE001
            check(False, f"{kwargs}: {type(e).__name__} instead of {error_type.__name__}: {e}")
    try:
        client.chat.completions.create(model="tiny", messages=user("word " * 200))
    except openai.BadRequestError as e:
        check_eq(e.code, "context_length_exceeded", "too-long prompt code")
    try:
        server.client(key="wrong").models.list()
        check(False, "wrong key accepted")
    except openai.AuthenticationError:
        pass

    status, _, body = server.raw("POST", "/v1/chat/completions", data=b'{"messages": [')
    check_eq(status, 400, "malformed JSON status")
    check_eq(json.loads(body)["error"]["code"], "invalid_json", "malformed JSON code")
    status, _, body = server.raw("POST", "/v1/chat/completions", data=b" " * 70000)
    check_eq(status, 413, "too-large body status")
    check_eq(json.loads(body)["error"]["code"], "payload_too_large", "too-large body code")
    status, _, _ = server.raw("GET", "/v1/models", key=None)
    check_eq(status, 401, "no key status")
    status, _, body = server.raw("GET", "/health", key=None)
    check_eq((status, json.loads(body)), (200, {"status": "ok"}), "/health without key")


def test_concurrency(server):
    prompts = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    client = server.client()

    def run(i):
        out = []
        for k in range(5):
            r = client.chat.completions.create(model="tiny", messages=user(prompts[i]),
                                               max_tokens=6, temperature=0.9, seed=k % 2)
            out.append(r.choices[0].message.content)
        return out

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(8)))
    for i, replies in enumerate(results):
        for k, reply in enumerate(replies):
            expected = cli_generate(prompts[i], 6, temperature=0.9, seed=k % 2)
            check_eq(reply, split_reasoning(expected["text"])[1], f"{prompts[i]} request {k}")


def metric(server, name):
    _, _, body = server.raw("GET", "/metrics")
    match = re.search("^" + re.escape(name) + r" (\S+)$", body, re.M)
    return float(match.group(1)) if match else None


def test_disconnect(server):
    before = metric(server, "coreml_generations_cancelled_total")
    stream = server.client().chat.completions.create(
        model="tiny", messages=user("go on forever"), max_tokens=100000, temperature=0.8,
        stream=True, extra_body={"ignore_eos": True})
    seen = 0
    for _ in stream:
        seen += 1
        if seen == 3:
            break
    stream.close()  # hang up mid-stream
    # Bounded wait for the server to notice (no timing asserted).
    for _ in range(1200):
        if (metric(server, "coreml_generations_cancelled_total") == before + 1
                and metric(server, "coreml_sessions_busy") == 0):
            break
        time.sleep(0.05)
    check_eq(metric(server, "coreml_generations_cancelled_total"), before + 1,
             "cancelled generations after a hang-up")
    check_eq(metric(server, "coreml_sessions_busy"), 0, "sessions busy after a hang-up")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--model", required=True)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    parser.add_argument("--venv", default=os.path.join(cache, "coreml-cpp", "server-test-venv"))
    ARGS = parser.parse_args()
    ensure_packages(ARGS.venv)

    # --ctx-reuse off: every reply must equal a fresh `coreml generate` run, whichever session
    # served the request before.
    server = Server("--parallel", "2", "--queue", "16", "--ctx-reuse", "off",
                    "--max-body", "65536")
    try:
        for test in [test_models, test_chat_non_stream, test_chat_stream, test_stop, test_seed,
                     test_completions, test_thinking_off, test_tokenize, test_errors,
                     test_concurrency, test_disconnect]:
            print("---", test.__name__, flush=True)
            try:
                test(server)
            except Exception as e:  # noqa: BLE001
                check(False, f"{test.__name__} raised {type(e).__name__}: {e}")
    finally:
        code = server.stop()
    check_eq(code, 0, "exit code after SIGTERM")
    log = "".join(server.log)
    check(re.search(r"^POST /v1/chat/completions 200 prompt=\d+ completion=\d+ [\d.]+ms$", log,
                    re.M) is not None, "request log line")
    if FAILURES:
        print(f"{len(FAILURES)} failure(s); server log:\n{log}")
        return 1
    print("all server checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
