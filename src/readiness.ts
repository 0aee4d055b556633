/** What /ready reports for one part of the service. */
export interface PartState {
  ok: boolean;
  /** Why the part is not usable (never internal error text with secrets). */
  error?: string;
  /** Usable, but something needs attention (e.g. a refused policy edit). */
  warning?: string;
}

/** Registry of readiness checks; plugins add theirs at registration. */
export class Readiness {
  private checks = new Map<string, () => Promise<PartState> | PartState>();

  add(name: string, check: () => Promise<PartState> | PartState): void {
    this.checks.set(name, check);
  }

  /** One part's check alone; a part with no check registered is usable. */
  async check(name: string): Promise<PartState> {
    const check = this.checks.get(name);
    try {
      return check ? await check() : { ok: true };
    } catch {
      return { ok: false, error: `${name} check failed` };
    }
  }

  async run(): Promise<{ ok: boolean; parts: Record<string, PartState> }> {
    const parts: Record<string, PartState> = {};
    let ok = true;
    for (const name of this.checks.keys()) {
      parts[name] = await this.check(name);
      if (!parts[name]!.ok) ok = false;
    }
    return { ok, parts };
  }
}
