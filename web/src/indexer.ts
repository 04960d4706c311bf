// The indexer's client: paginated lists, single items, and the live stream
// of server-sent events (docs/indexer.md). Items stay plain JSON objects;
// the views read the few fields they show.

import { IndexerError, UnreachableError } from './errors';

/** An indexer item: JSON with string, number or nested values. */
export type Item = Record<string, unknown>;

/** The most items one list gathers, so that a runaway list ends. */
const MAX_ITEMS = 2000;

/** The event names the stream sends (the contract's events, and `rollback`). */
export const STREAMED = [
  'AccessRequested',
  'RequestApproved',
  'RequestDenied',
  'Granted',
  'Revoked',
  'RecordGranted',
  'RecordRevoked',
  'AlertRaised',
  'CategoryKeyPublished',
  'RecordKeyPublished',
  'CategoryKeyRotated',
  'BreakGlassOpened',
  'BreakGlassClosed',
  'rollback',
];

/** A client of the indexer at `base`. */
export class Indexer {
  constructor(readonly base: string) {}

  private async page(path: string, query: Record<string, string>): Promise<{ items?: Item[]; item?: Item; next?: string | null }> {
    const url = new URL(this.base + path);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    let response: Response;
    try {
      response = await fetch(url, { headers: { Accept: 'application/json' } });
    } catch {
      throw new UnreachableError('indexer');
    }
    const body = (await response.json().catch(() => ({}))) as { message?: string; error?: string };
    if (!response.ok) throw new IndexerError(response.status, body.message ?? body.error ?? `HTTP ${response.status}`);
    return body as { items?: Item[]; item?: Item; next?: string | null };
  }

  /** Every item of a list (up to `max`), following the `next` cursors. */
  async list(path: string, query: Record<string, string> = {}, max = MAX_ITEMS): Promise<Item[]> {
    const items: Item[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await this.page(path, { ...query, limit: '500', ...(cursor ? { cursor } : {}) });
      items.push(...(page.items ?? []));
      cursor = page.next;
    } while (cursor && items.length < max);
    return items;
  }

  /**
   * The block the index has reached; with `minBlock`, the indexer answers
   * once it has reached that block (or after its own few seconds).
   */
  async head(minBlock?: number): Promise<number> {
    const query: Record<string, string> = minBlock === undefined ? {} : { min_block: String(minBlock) };
    const body = (await this.page('/v1/head', query)) as { block?: { number?: number } };
    return Number(body.block?.number ?? 0);
  }

  /**
   * Waits (up to `timeoutMs`) until the index has reached `block`, so that a
   * list drawn after an action shows it. The indexer holds each request
   * until then, so this neither polls nor lags behind the index.
   */
  async reach(block: number, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((await this.head(block)) < block && Date.now() < until) {
      // The indexer's own wait ran out; ask again.
    }
  }

  /** One item, or null for a 404. */
  async item(path: string): Promise<Item | null> {
    try {
      return (await this.page(path, {})).item ?? null;
    } catch (error) {
      if (error instanceof IndexerError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * Follows `/v1/stream` for a patient or a grantee. EventSource resumes by
   * itself with `Last-Event-ID` after a dropped connection. Returns a
   * function that closes it.
   */
  stream(who: { patient?: string; grantee?: string }, onEvent: (type: string, data: Item) => void, onState?: (open: boolean) => void): () => void {
    const url = new URL(`${this.base}/v1/stream`);
    if (who.patient) url.searchParams.set('patient', who.patient);
    if (who.grantee) url.searchParams.set('grantee', who.grantee);
    const source = new EventSource(url);
    const handler = (event: MessageEvent<string>) => {
      let data: Item = {};
      try {
        data = JSON.parse(event.data) as Item;
      } catch {
        /* a keep-alive or a non-JSON event: shown by its type only */
      }
      onEvent(event.type, data);
    };
    for (const type of STREAMED) {
      source.addEventListener(type, handler as EventListener);
    }
    source.onopen = () => onState?.(true);
    source.onerror = () => onState?.(false);
    return () => source.close();
  }
}

/** A string field of an item. */
export function text(item: Item, field: string): string {
  const value = item[field];
  return value === undefined || value === null ? '' : String(value);
}

/** A numeric field of an item (numbers may come as strings). */
export function num(item: Item, field: string): number {
  return Number(item[field] ?? 0);
}
