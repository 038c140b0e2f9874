// Word splitting for twine.iptables.rule.* values. It follows the shell's
// quoting rules closely enough for iptables options ('…' literal, "…" with
// \" and \\ escapes, a backslash outside quotes escaping the next character)
// but never runs a shell: the result is only ever used as data.

import { TokenizeError } from '../errors.js';

/** Split a label value into words, honouring '…' and "…" quoting. Throws TokenizeError. */
export function tokenize(value: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const n = value.length;
  while (i < n) {
    const c = value[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = value.indexOf("'", i + 1);
      if (end < 0) throw new TokenizeError(`unterminated ' quote at position ${i}`);
      word += value.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new TokenizeError(`unterminated " quote at position ${i}`);
        const d = value[j]!;
        if (d === '"') break;
        if (d === '\\' && (value[j + 1] === '"' || value[j + 1] === '\\')) {
          word += value[j + 1];
          j += 2;
        } else {
          word += d;
          j++;
        }
      }
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= n) throw new TokenizeError('trailing backslash');
      word += value[i + 1];
      i += 2;
    } else {
      word += c;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
