/* Connection strings in messages: what may be shown of them (start-up errors, listener logs). */

/**
 * The URL with its password, and any query parameter whose name says password, secret or key,
 * replaced by ****; `secrets` are the hidden values, scrubbed from driver messages too.
 */
export function maskUrl(raw: string): { shown: string; secrets: string[] } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { shown: '(not a valid URL)', secrets: [raw] };
  }
  const secrets: string[] = [];
  if (url.password) {
    secrets.push(url.password, decoded(url.password));
    url.password = '****';
  }
  for (const [name, value] of [...url.searchParams]) {
    if (/pass|secret|key/i.test(name) && value) {
      secrets.push(value);
      url.searchParams.set(name, '****');
    }
  }
  return { shown: url.toString(), secrets };
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `text` with every one of `secrets` replaced by ****. */
export function scrub(text: string, secrets: string[]): string {
  return secrets.filter((s) => s.length > 0).reduce((t, s) => t.split(s).join('****'), text);
}

/** The first line of an error's message. */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
