// Where the server under test delivers codes: a real SMTP server (smtp-server, plain SMTP on
// loopback) and the HTTP endpoint an SMS provider would be. Tests read what arrived over HTTP:
//
//   POST /sms            the SMS provider: {"to", "text"} as JSON (what server/src/notify.rs sends)
//   GET  /inbox?to=ADDR  every message to ADDR so far, oldest first: [{"to", "subject", "text"}]
//   GET  /ready          200 once both listeners are up
//
// Usage: node sink.js SMTP_PORT HTTP_PORT
'use strict';
const http = require('node:http');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');

const [smtpPort, httpPort] = process.argv.slice(2).map(Number);
if (!smtpPort || !httpPort) {
  console.error('usage: node sink.js SMTP_PORT HTTP_PORT');
  process.exit(2);
}

/** @type {{to: string, text: string}[]} */
const messages = [];

const smtp = new SMTPServer({
  // Plain SMTP on loopback: no STARTTLS offer (the server would try it and refuse our
  // self-signed certificate), no login.
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(stream, session, callback) {
    // mailparser decodes the transfer encoding (quoted-printable, base64) and the charset.
    simpleParser(stream)
      .then((mail) => {
        for (const rcpt of session.envelope.rcptTo) {
          messages.push({ to: rcpt.address.toLowerCase(), subject: mail.subject ?? '', text: mail.text ?? '' });
        }
        callback();
      })
      .catch((err) => callback(err));
  },
});

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://sink');
  if (req.method === 'POST' && url.pathname === '/sms') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        const { to, text } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof to !== 'string' || typeof text !== 'string') throw new Error('to/text');
        messages.push({ to, text });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      } catch {
        res.writeHead(400).end();
      }
    });
    return;
  }
  if (req.method === 'GET' && url.pathname === '/inbox') {
    const to = (url.searchParams.get('to') ?? '').toLowerCase();
    const found = messages.filter((m) => m.to.toLowerCase() === to);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(found));
    return;
  }
  if (req.method === 'GET' && url.pathname === '/ready') {
    res.writeHead(200).end('ready');
    return;
  }
  res.writeHead(404).end();
});

smtp.listen(smtpPort, '127.0.0.1', () => {
  server.listen(httpPort, '127.0.0.1', () => {
    console.log(`sink: SMTP on 127.0.0.1:${smtpPort}, HTTP on 127.0.0.1:${httpPort}`);
  });
});
