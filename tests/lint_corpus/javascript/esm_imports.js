import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { EOL } from 'node:os';

const file = path.resolve('input.txt');
const content = existsSync(file) ? readFileSync(file, 'utf8') : '';
const words = content.split(/\s+/).filter(Boolean);
process.stdout.write(`${words.length} words${EOL}`);
