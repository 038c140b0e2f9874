// Text from labels, names and errors made safe for a terminal: a label value
// holding ESC [2J (or any control character) must not reach the terminal as
// a control sequence in human-readable output. JSON output escapes them itself.

// C0 (tab and newline too), DEL, C1, the line and paragraph separators and the bidi overrides and isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

function escape(ch: string): string {
  const code = ch.codePointAt(0)!;
  if (ch === '\n') return '\\n';
  if (ch === '\t') return '\\t';
  if (ch === '\r') return '\\r';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line of human-readable output: every control character as a visible escape (`\x1b`, `\n`). */
export function printable(s: string): string {
  return s.replace(CONTROL, escape);
}

/** Several lines: each line made printable, the line breaks kept. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}
