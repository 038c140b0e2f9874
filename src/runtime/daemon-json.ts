// Edits Docker's daemon.json as text, so that everything but Twine's entry
// keeps its bytes: `"runtimes": {"twine": {"path": …}}` goes in as the first
// member (of `runtimes`, or of the file when it has no `runtimes`), and comes
// out again leaving the same bytes it found. dockerd re-reads `runtimes` on
// SIGHUP only when the key is present, so taking Twine out of a `runtimes`
// that install added leaves `"runtimes": {}` until dockerd has reloaded it
// (dropRuntimesKey then removes what is left).

import { TwineError } from '../errors.js';

export const RUNTIME_NAME = 'twine';

interface Member {
  key: string;
  keyStart: number;
  valueStart: number;
  valueEnd: number;
}

interface ObjectSpan {
  open: number;
  close: number;
  members: Member[];
}

function ws(text: string, i: number): number {
  while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  return i;
}

function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  throw new TwineError('unterminated string');
}

/** End of the JSON value at i (the text is known to parse). */
function valueEnd(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text[j];
      if (d === '"') j = stringEnd(text, j) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        if (--depth === 0) return j + 1;
      }
    }
    throw new TwineError('unterminated value');
  }
  let j = i;
  while (j < text.length && !',]} \t\r\n'.includes(text[j]!)) j++;
  return j;
}

function objectAt(text: string, open: number): ObjectSpan {
  const members: Member[] = [];
  let i = ws(text, open + 1);
  if (text[i] === '}') return { open, close: i, members };
  for (;;) {
    const keyStart = i;
    const keyEnd = stringEnd(text, i);
    const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
    i = ws(text, keyEnd) + 1; // ':'
    const valueStart = ws(text, i);
    const end = valueEnd(text, valueStart);
    members.push({ key, keyStart, valueStart, valueEnd: end });
    i = ws(text, end);
    if (text[i] === '}') return { open, close: i, members };
    i = ws(text, i + 1); // ','
  }
}

/** Parses and finds the root object; a file that is empty or only whitespace counts as `{}`. */
function root(text: string, file: string): ObjectSpan | undefined {
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new TwineError(`${file} is not valid JSON (${(err as Error).message}); fix it first, dockerd would not start with it either`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TwineError(`${file}: expected a JSON object`);
  return objectAt(text, ws(text, 0));
}

/** Inserts `member` as the first member of obj, in the layout of the members already there. */
function insertFirst(text: string, obj: ObjectSpan, member: string): string {
  const first = obj.members[0];
  if (!first) return text.slice(0, obj.open + 1) + member + text.slice(obj.open + 1);
  const indent = text.slice(obj.open + 1, first.keyStart);
  return text.slice(0, obj.open + 1) + indent + member + ',' + text.slice(obj.open + 1);
}

/** Removes member m of obj with the separator insertFirst put with it: `{<ws>M,<ws>N` → `{<ws>N`. */
function removeMember(text: string, obj: ObjectSpan, m: Member): string {
  const i = obj.members.indexOf(m);
  const next = obj.members[i + 1];
  if (next) return text.slice(0, m.keyStart) + text.slice(next.keyStart);
  const prev = obj.members[i - 1];
  if (prev) return text.slice(0, prev.valueEnd) + text.slice(m.valueEnd);
  return text.slice(0, m.keyStart) + text.slice(m.valueEnd);
}

function entry(path: string): string {
  return `{"path": ${JSON.stringify(path)}}`;
}

export interface AddResult {
  text: string;
  /** What install added besides Twine's entry: the runtimes key, the whole file, or nothing. */
  added: 'none' | 'key' | 'file';
}

/** daemon.json with runtime `twine` at `path` (replaced when it is there already). */
export function addRuntime(text: string, path: string, file = 'daemon.json'): AddResult {
  const r = root(text, file);
  if (!r) return { text: `{\n  "runtimes": {\n    "${RUNTIME_NAME}": ${entry(path)}\n  }\n}\n`, added: 'file' };
  const runtimes = r.members.find((m) => m.key === 'runtimes');
  if (!runtimes) return { text: insertFirst(text, r, `"runtimes": {"${RUNTIME_NAME}": ${entry(path)}}`), added: 'key' };
  if (text[runtimes.valueStart] !== '{') throw new TwineError(`${file}: "runtimes" is not an object`);
  const obj = objectAt(text, runtimes.valueStart);
  const twine = obj.members.find((m) => m.key === RUNTIME_NAME);
  if (twine) return { text: text.slice(0, twine.valueStart) + entry(path) + text.slice(twine.valueEnd), added: 'none' };
  return { text: insertFirst(text, obj, `"${RUNTIME_NAME}": ${entry(path)}`), added: 'none' };
}

/** daemon.json without runtime `twine` (unchanged when it has none); `runtimes` stays, maybe empty. */
export function removeRuntime(text: string, file = 'daemon.json'): string {
  const r = root(text, file);
  const runtimes = r?.members.find((m) => m.key === 'runtimes');
  if (!r || !runtimes || text[runtimes.valueStart] !== '{') return text;
  const obj = objectAt(text, runtimes.valueStart);
  const twine = obj.members.find((m) => m.key === RUNTIME_NAME);
  return twine ? removeMember(text, obj, twine) : text;
}

/**
 * Removes an empty `runtimes` that install added ('key'), or the whole file's
 * content when install created it ('file': returns undefined, delete the file).
 * Anything else the user added since stays.
 */
export function dropRuntimesKey(text: string, added: 'key' | 'file', file = 'daemon.json'): string | undefined {
  const r = root(text, file);
  if (!r) return added === 'file' ? undefined : text;
  const runtimes = r.members.find((m) => m.key === 'runtimes');
  if (!runtimes || text[runtimes.valueStart] !== '{' || objectAt(text, runtimes.valueStart).members.length > 0) return text;
  if (added === 'file' && r.members.length === 1) return undefined;
  return removeMember(text, r, runtimes);
}

/** Whether daemon.json registers runtime `twine`. */
export function hasRuntime(text: string, file = 'daemon.json'): boolean {
  const r = root(text, file);
  const runtimes = r?.members.find((m) => m.key === 'runtimes');
  return runtimes !== undefined && text[runtimes.valueStart] === '{' && objectAt(text, runtimes.valueStart).members.some((m) => m.key === RUNTIME_NAME);
}
