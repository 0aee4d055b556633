/** A unique constraint refused the write (e.g. an email already registered). */
export class ConflictError extends Error {
  constructor(readonly constraint: string) {
    super(`unique constraint ${constraint}`);
    this.name = 'ConflictError';
  }
}
