// tsc does not emit the generated JavaScript it only has types for: copy it into dist/.
import { cpSync } from "node:fs";
const root = new URL("..", import.meta.url).pathname;
cpSync(`${root}proto/gen/inference.js`, `${root}dist/proto/gen/inference.js`);
