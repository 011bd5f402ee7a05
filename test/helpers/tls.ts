import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM files for a test: a CA, a server and a client certificate it signed, and a second CA that signed neither. */
export interface TestPki {
  dir: string;
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCaFile: string;
}

// EC keys: a few milliseconds each, where RSA takes a noticeable share of a test's time on 2 cores.
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Makes the files with the system's openssl; the server's certificate is for 127.0.0.1, localhost and nats.test. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "broker-pki-"));
  const p = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  ssl("req", "-x509", ...EC, "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=broker test CA");
  ssl("req", "-x509", ...EC, "-keyout", p("other.key"), "-out", p("other.pem"), "-days", "2", "-subj", "/CN=some other CA");
  const leaf = (name: string, subject: string, ext: string) => {
    writeFileSync(p(`${name}.ext`), `${ext}\n`);
    ssl("req", ...EC, "-keyout", p(`${name}.key`), "-out", p(`${name}.csr`), "-subj", subject);
    ssl("x509", "-req", "-in", p(`${name}.csr`), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p(`${name}.pem`), "-days", "2", "-extfile", p(`${name}.ext`));
  };
  leaf("server", "/CN=nats-server", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:nats.test\nextendedKeyUsage=serverAuth");
  leaf("client", "/CN=broker-client", "extendedKeyUsage=clientAuth");
  return {
    dir, caFile: p("ca.pem"), serverCert: p("server.pem"), serverKey: p("server.key"),
    clientCert: p("client.pem"), clientKey: p("client.key"), otherCaFile: p("other.pem"),
  };
}
