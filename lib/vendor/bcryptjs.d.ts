/**
 * Types of lib/vendor/bcryptjs.js: the part of the `bcryptjs` package's API that ferry uses.
 *
 * @module
 */

/** Whether `password` matches the bcrypt `hash` ($2a$/$2b$). */
export declare function compare(password: string, hash: string): Promise<boolean>;
/** {@link compare}, synchronously. */
export declare function compareSync(password: string, hash: string): boolean;
/** A bcrypt hash of `password` with a salt of 2^`rounds` rounds (or the given salt). */
export declare function hashSync(password: string, salt?: number | string): string;
/** {@link hashSync}, asynchronously (it yields between rounds). */
export declare function hash(password: string, salt: number | string): Promise<string>;
/** A salt of 2^`rounds` rounds (default 10). */
export declare function genSaltSync(rounds?: number): string;

/** The module's default export: the same functions as one object. */
declare const bcrypt: {
  compare: typeof compare;
  compareSync: typeof compareSync;
  hash: typeof hash;
  hashSync: typeof hashSync;
  genSaltSync: typeof genSaltSync;
};
export default bcrypt;
