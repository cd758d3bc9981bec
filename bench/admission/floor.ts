// The floor: a bare node:https server that reads the body, parses it and allows. What any
// Node.js webhook pays for TLS, HTTP and JSON before it does any work of its own.
// argv: <port> <certFile> <keyFile>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [port, certFile, keyFile] = process.argv.slice(2);
type Review = { request?: { uid?: string } };

createServer(
  { cert: readFileSync(certFile!), key: readFileSync(keyFile!), keepAliveTimeout: 95_000 },
  (req, res) => {
    if (req.method === 'GET') {
      res.end('ok');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
      const body = JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: review.request?.uid, allowed: true },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  },
).listen(Number(port), '127.0.0.1');
