/**
 * Types of lib/vendor/yaml.js: the part of the `yaml` package's API that ferry uses (`parse`, and the
 * document API: `parseDocument`, `visit`, `isScalar`).
 *
 * @module
 */

/** Options of {@link parse} (a subset of yaml's ParseOptions, DocumentOptions and ToJSOptions). */
export interface ParseOptions {
  /** Whether duplicate keys in a mapping are an error (default true; a function decides per key pair). */
  uniqueKeys?: boolean | ((a: unknown, b: unknown) => boolean);
  /** Whether to report errors for content that is valid YAML but not strictly so (default true). */
  strict?: boolean;
  /** Add line and column context to error messages (default true). */
  prettyErrors?: boolean;
  /** How many alias nodes a document may resolve, against billion-laughs expansion (default 100). */
  maxAliasCount?: number;
  /** Support `<<` merge keys (default false, YAML 1.2). */
  merge?: boolean;
  /** The YAML version when a document does not say (default "1.2"). */
  version?: "1.1" | "1.2" | "next";
  /** Which schema resolves untagged scalars (default "core"). */
  schema?: "core" | "failsafe" | "json" | "yaml-1.1";
}

/** A function called like JSON.parse's reviver for every key and value. */
export type Reviver = (key: unknown, value: unknown) => unknown;

/**
 * Parses one YAML document to plain JavaScript values; throws a `YAMLParseError` on malformed input.
 *
 * @example
 * ```ts
 * parse("a: [1, 2]"); // { a: [1, 2] }
 * ```
 */
export declare function parse(src: string, options?: ParseOptions): any;
export declare function parse(src: string, reviver: Reviver, options?: ParseOptions): any;

/** Options of {@link parseDocument}: {@link ParseOptions} plus keeping each node's source token. */
export interface DocumentOptions extends ParseOptions {
  /** Keep the concrete-syntax token of each node in `srcToken` (its source text). */
  keepSourceTokens?: boolean;
}

/** A scalar node: its value, and with `keepSourceTokens` the token it was read from. */
export interface Scalar {
  value: unknown;
  srcToken?: { source?: string } | Record<string, unknown>;
}

/** A parsed YAML document. */
export interface Document {
  /** Errors found while parsing (empty when the document is well formed). */
  errors: Error[];
  /** The document as plain JavaScript values. */
  toJS(): any;
}

/**
 * Parses one YAML document to its node tree.
 *
 * @example
 * ```ts
 * const doc = parseDocument("a: 1", { keepSourceTokens: true });
 * ```
 */
export declare function parseDocument(src: string, options?: DocumentOptions): Document;

/** Visits the nodes of a document; the `Scalar` visitor is called for every scalar. */
export declare function visit(
  node: Document,
  visitor: { Scalar?: (key: unknown, node: Scalar) => void | symbol },
): void;

/** Whether `node` is a scalar node. */
export declare function isScalar(node: unknown): node is Scalar;
