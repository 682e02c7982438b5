#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""openai_server.py - a scripted OpenAI-compatible model server for the
integration tests (Python's standard library only).

    openai_server.py ADDR PORT

POST /v1/completions and /v1/chat/completions with "stream": true answer
"echo: " and the prompt (the "prompt", or the last message's "content"),
five characters an event, then "data: [DONE]", as vLLM's server does
(HTTP/1.1, chunked). Anything else is a 400 with an error object. Each
request is one line on stdout: the path and the prompt's length.

Faults on demand, for the tests of what a client sees: a prompt that
holds "[fail]" is answered 503 with an error object; one that holds
"[cut]" streams the first two events and then closes the connection
without "data: [DONE]"; one that holds "[stall]" gets its headers and
then nothing for 30 s (the connection closed then).
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PIECE = 5
BODY_MAX = 1 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: stdout is the request log
        pass

    def refuse(self, status, why):
        body = json.dumps({"error": {"message": why, "type": "invalid"}})
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self):
        chat = self.path == "/v1/chat/completions"
        if not chat and self.path != "/v1/completions":
            return self.refuse(404, "no such endpoint")
        length = int(self.headers.get("Content-Length", "0"))
        if length <= 0 or length > BODY_MAX:
            return self.refuse(400, "body size")
        try:
            req = json.loads(self.rfile.read(length))
            prompt = (req["messages"][-1]["content"] if chat
                      else req["prompt"])
        except (ValueError, KeyError, IndexError, TypeError):
            return self.refuse(400, "not a completion request")
        if not isinstance(prompt, str) or req.get("stream") is not True:
            return self.refuse(400, "stream must be true")
        print(f"{self.path} {len(prompt.encode())}", flush=True)
        if "[fail]" in prompt:
            return self.refuse(503, "the model is unavailable ([fail])")
        text = "echo: " + prompt
        cut = 2 * PIECE if "[cut]" in prompt else len(text)
        if "[stall]" in prompt:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            time.sleep(30)
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, min(len(text), cut), PIECE):
            piece = text[i:i + PIECE]
            choice = ({"index": 0, "delta": {"content": piece}} if chat
                      else {"index": 0, "text": piece})
            event = {"object": "chat.completion.chunk" if chat
                     else "text_completion", "choices": [choice]}
            self.chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
        if cut < len(text):
            self.close_connection = True
            return
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    server = ThreadingHTTPServer((addr, port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
