// SPDX-License-Identifier: MIT
//
// ask.mjs - ask a sluice pipeline one question through sluice-gateway with
// the official OpenAI Node.js client (npm `openai`), as an application
// written for the OpenAI API would.
//
//   node tools/openai-js/ask.mjs --base-url http://10.0.0.30:8080/v1 \
//       --api-key-file gateway.key --model factcheck [--no-stream]
//       [--completions] [--json] QUESTION
//
// Streaming (the default) prints each delta as it arrives; --no-stream
// prints the whole answer. --json prints instead one object: {answer,
// chunks, finish_reason, model, ms} or, on an error, {error: {status,
// type, code, message}} with exit status 1. The key comes from
// --api-key-file (first line) or OPENAI_API_KEY, never from the command
// line (it would show in ps).

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';

const usage = 'usage: ask.mjs --base-url URL --model PIPELINE ' +
	'[--api-key-file FILE] [--no-stream] [--completions] [--json] QUESTION';

function die(msg) {
	process.stderr.write(`ask.mjs: ${msg}\n${usage}\n`);
	process.exit(2);
}

function options() {
	let parsed;
	try {
		parsed = parseArgs({
			allowPositionals: true,
			options: {
				'base-url': { type: 'string' },
				'api-key-file': { type: 'string' },
				model: { type: 'string' },
				'no-stream': { type: 'boolean', default: false },
				completions: { type: 'boolean', default: false },
				json: { type: 'boolean', default: false },
				timeout: { type: 'string', default: '30' },
			},
		});
	} catch (e) {
		die(e.message);
	}
	const o = parsed.values;
	if (!o['base-url'] || !o.model || parsed.positionals.length !== 1)
		die('--base-url, --model and one QUESTION are required');
	let key = process.env.OPENAI_API_KEY;
	if (o['api-key-file'])
		key = readFileSync(o['api-key-file'], 'utf8').split('\n')[0].trim();
	if (!key)
		die('no key: --api-key-file or OPENAI_API_KEY');
	const timeout = Number(o.timeout);
	if (!(timeout > 0 && timeout <= 3600))
		die('--timeout: seconds, 1..3600');
	return {
		baseURL: o['base-url'], key, model: o.model,
		stream: !o['no-stream'], chat: !o.completions, json: o.json,
		timeoutMs: timeout * 1000, question: parsed.positionals[0],
	};
}

// The request body of either endpoint.
function request(o) {
	const body = { model: o.model, stream: o.stream };
	if (o.chat)
		body.messages = [{ role: 'user', content: o.question }];
	else
		body.prompt = o.question;
	return body;
}

// One choice's text: a chunk's delta or a whole answer's message.
function textOf(o, choice) {
	if (!choice)
		return '';
	if (!o.chat)
		return choice.text ?? '';
	return (o.stream ? choice.delta?.content : choice.message?.content) ?? '';
}

async function ask(o) {
	const client = new OpenAI({
		baseURL: o.baseURL, apiKey: o.key, maxRetries: 0,
		timeout: o.timeoutMs,
	});
	const api = o.chat ? client.chat.completions : client.completions;
	const t0 = performance.now();
	const out = { answer: '', chunks: 0, finish_reason: null, model: null };

	if (!o.stream) {
		const r = await api.create(request(o));
		out.answer = textOf(o, r.choices[0]);
		out.chunks = 1;
		out.finish_reason = r.choices[0]?.finish_reason ?? null;
		out.model = r.model;
		if (!o.json)
			process.stdout.write(out.answer);
	} else {
		for await (const chunk of await api.create(request(o))) {
			const c = chunk.choices[0];
			const t = textOf(o, c);

			out.chunks++;
			out.model = chunk.model;
			out.answer += t;
			if (c?.finish_reason)
				out.finish_reason = c.finish_reason;
			if (!o.json)
				process.stdout.write(t);
		}
	}
	out.ms = Math.round(performance.now() - t0);
	if (o.json)
		process.stdout.write(JSON.stringify(out) + '\n');
	else
		process.stdout.write('\n');
}

const o = options();
try {
	await ask(o);
} catch (e) {
	// APIError (an HTTP status, or an error event inside the stream)
	// carries status, type and code; anything else is a transport error.
	const err = {
		status: e.status ?? null, type: e.type ?? e.name ?? null,
		code: e.code ?? null, message: e.message,
	};
	if (o.json)
		process.stdout.write(JSON.stringify({ error: err }) + '\n');
	else
		process.stderr.write(`ask.mjs: ${err.status ?? ''} ${err.message}\n`);
	process.exit(1);
}
