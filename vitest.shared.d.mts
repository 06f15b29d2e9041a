/** The reporters of every package's vitest config: `default`, plus a JSON report under npm test. */
export declare function reporters(name: string): Array<string | [string, Record<string, unknown>]>
