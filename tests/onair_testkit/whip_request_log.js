// Preloaded into simple-whip-server (node -r THIS src/server.js): appends one
// JSON line per answered HTTP request to $ONAIR_WHIP_REQUEST_LOG, so a test
// can count what a publisher sent (POST, PATCH, DELETE) and what it got back.
// The Authorization header is reduced to its scheme: the token is a secret.
'use strict';

const fs = require('fs');
const http = require('http');

const logPath = process.env.ONAIR_WHIP_REQUEST_LOG;

function record(req, res, started) {
	const auth = req.headers['authorization'];
	const line = {
		at_ms: Date.now(),
		ms: Date.now() - started,
		method: req.method,
		path: req.originalUrl || req.url,
		status: res.statusCode,
		auth: auth ? auth.split(' ')[0] : null,
		content_type: req.headers['content-type'] || null,
		if_match: req.headers['if-match'] || null,
		location: res.getHeader('location') || null,
		remote: req.socket && req.socket.remoteAddress,
	};
	// Synchronous: the line is on disk before the answer leaves.
	fs.appendFileSync(logPath, JSON.stringify(line) + '\n');
}

if (logPath) {
	const createServer = http.createServer;
	http.createServer = function (...args) {
		const server = createServer.apply(this, args);
		server.prependListener('request', (req, res) => {
			const started = Date.now();
			// Logged as the answer is handed over, not on 'finish': by then the
			// client may already have it and the test may read the log too early.
			const end = res.end;
			res.end = function (...args) {
				record(req, res, started);
				return end.apply(this, args);
			};
		});
		return server;
	};
}
