// A static server for the browser test's CORS case: it serves the demo page and the
// browser module, as an app on another origin would (its own copy of the module, from
// clients/browser), on two origins: one the API allows (CORS_ORIGINS) and one it does
// not. Both are on 127.0.0.1, so the cookies of the API stay same-site.
//
//   node app-origins.mjs    prints "allowed http://127.0.0.1:A" and "refused http://127.0.0.1:B"
//
// GET /?api=http://127.0.0.1:P serves the demo page pointed at the API at P (the test
// knows P only after the API started, which needs A first).
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

function serve() {
  return createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
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
