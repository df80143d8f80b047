// A static server for the browser test's CORS and cross-site cases: it serves the demo
// page and the browser module, as an app on another origin would (its own copy of the
// module, from clients/browser), on two origins: one the API allows (CORS_ORIGINS) and
// one it does not. Both are on 127.0.0.1, so the cookies of the API stay same-site.
//
//   node app-origins.mjs    prints "allowed http://127.0.0.1:A" and "refused http://127.0.0.1:B"
//
// GET /?api=http://127.0.0.1:P serves the demo page pointed at the API at P (the test
// knows P only after the API started, which needs A first).
//
// GET /form-post?action=http://HOST:P/PATH&NAME=VALUE... serves another site's page
// whose form POSTs the fields NAME=VALUE to action as soon as it loads: the cross-site
// request forgery the cookie-only mode's transport header guards against. HOST is
// 127.0.0.1 or localhost, so the test can load it from either host (same-site with the
// API, or not).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const files = {
  '/': ['local/web/index.html', 'text/html; charset=utf-8'],
  '/_local/app.js': ['local/web/app.js', 'text/javascript; charset=utf-8'],
  '/_local/style.css': ['local/web/style.css', 'text/css; charset=utf-8'],
  '/_local/favicon.svg': ['local/web/favicon.svg', 'image/svg+xml'],
  '/sessions.js': ['clients/browser/sessions.js', 'text/javascript; charset=utf-8'],
};

const escape = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The forging page's script: a page may not run an inline one under its CSP.
const submitJS = "document.getElementById('forged').submit();\n";

function formPost(url, res) {
  const action = url.searchParams.get('action') ?? '';
  if (!/^http:\/\/(127\.0\.0\.1|localhost):\d{1,5}\/[-\w/]*$/.test(action)) {
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end('?action=http://127.0.0.1:PORT/PATH is required');
    return;
  }
  const fields = [...url.searchParams].filter(([name]) => name !== 'action')
    .map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`);
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>another site</title>
<script src="/_e2e/submit.js" defer></script></head>
<body><form id="forged" method="POST" action="${escape(action)}">${fields.join('')}</form></body></html>
`;
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Security-Policy': `default-src 'none'; script-src 'self'; form-action ${new URL(action).origin}; base-uri 'none'`,
  }).end(page);
}

function serve() {
  return createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'GET' && url.pathname === '/form-post') return formPost(url, res);
    if (req.method === 'GET' && url.pathname === '/_e2e/submit.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' }).end(submitJS);
      return;
    }
    const file = files[url.pathname];
    if (req.method !== 'GET' || !file) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    let body = await readFile(join(root, file[0]));
    const headers = { 'Content-Type': file[1], 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
    if (url.pathname === '/') {
      const api = url.searchParams.get('api') ?? '';
      if (!/^http:\/\/127\.0\.0\.1:\d{1,5}$/.test(api)) {
        res.writeHead(400, { 'Content-Type': 'text/plain' }).end('?api=http://127.0.0.1:PORT is required');
        return;
      }
      body = Buffer.from(body.toString('utf8').replace('<meta charset="utf-8">', `<meta charset="utf-8">\n<meta name="sessions-api" content="${api}">`));
      headers['Content-Security-Policy'] = `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src ${api}; form-action 'none'; base-uri 'none'`;
    }
    res.writeHead(200, headers).end(body);
  });
}

for (const name of ['allowed', 'refused']) {
  const server = serve();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  console.log(`${name} http://127.0.0.1:${server.address().port}`);
}
