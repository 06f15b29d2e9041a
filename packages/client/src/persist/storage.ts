/**
 * Where `persist` keeps cursors and unacknowledged publishes: a key-value store of structured-cloneable
 * values. `indexedDbStorage()` in browsers (the default there); `memoryStorage()` or your own elsewhere.
 * Every method may return a promise; a write counts as done when it resolves.
 */
export interface PersistStorage {
  get(key: string): unknown | Promise<unknown>
  set(key: string, value: unknown): void | Promise<void>
  delete(key: string): void | Promise<void>
  /** Every key in the store (the client filters its own by prefix). */
  keys(): string[] | Promise<string[]>
}

/**
 * A `PersistStorage` on IndexedDB: database `name` (default `holdfast`), one object store. A write
 * resolves when its transaction has committed, so it survives a reload or a crash of the page.
 */
export function indexedDbStorage(name = 'holdfast'): PersistStorage {
  let db: Promise<IDBDatabase> | undefined
  const open = () =>
    (db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(name, 1)
      request.onupgradeneeded = () => request.result.createObjectStore('kv')
      request.onsuccess = () => resolve(request.result)
      request.onerror = () => reject(request.error)
    }))
  const run = async <T>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest<T>) => {
    const tx = (await open()).transaction('kv', mode)
    const request = op(tx.objectStore('kv'))
    return new Promise<T>((resolve, reject) => {
      tx.oncomplete = () => resolve(request.result)
      tx.onerror = tx.onabort = () => reject(tx.error ?? request.error)
    })
  }
  return {
    get: (key) => run('readonly', (s) => s.get(key)),
    set: (key, value) => run('readwrite', (s) => s.put(value, key)).then(() => {}),
    delete: (key) => run('readwrite', (s) => s.delete(key)).then(() => {}),
    keys: () => run('readonly', (s) => s.getAllKeys()).then((keys) => keys.map(String)),
  }
}

/** A `PersistStorage` in memory (values cloned, as IndexedDB would): for tests and for Node. */
export function memoryStorage(): PersistStorage & { readonly data: Map<string, unknown> } {
  const data = new Map<string, unknown>()
  return {
    data,
    get: (key) => structuredClone(data.get(key)),
    set: (key, value) => void data.set(key, structuredClone(value)),
    delete: (key) => void data.delete(key),
    keys: () => [...data.keys()],
  }
}
