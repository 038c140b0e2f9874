// A container's own DNS servers, from the resolv.conf Docker wrote for it.
//
// Docker (since 25) ends the file with comments saying what it was made
// from: `# ExtServers: [...]`, the servers its embedded resolver forwards to
// (`host(<ip>)` for the host's, which Docker 28 reaches from the host's
// namespace), and `# Overrides: [...]`, which lists `nameservers` when the
// container was created with DNS servers of its own (`dns:` / `--dns`). It is
// read when Docker's inspect cannot be (a container whose start is under way:
// the inspect would wait for it); the file is read before the container's
// process runs, so it is as Docker wrote it.

/** The container's own DNS servers ([] when it has none); undefined when the file does not say (another engine's format). */
export function dnsServersFromResolvConf(text: string): string[] | undefined {
  const list = (name: string): string[] | undefined => {
    const m = new RegExp(`^# ${name}: \\[([^\\]]*)\\]\\s*$`, 'm').exec(text);
    return m ? m[1]!.split(/[\s,]+/).filter((s) => s !== '') : undefined;
  };
  const ext = list('ExtServers');
  const overrides = list('Overrides');
  if (ext === undefined || overrides === undefined) return undefined;
  return overrides.includes('nameservers') ? ext.filter((s) => !s.startsWith('host(')) : [];
}
