// A request the core has checked. Only core/validate makes one, and the
// inference service takes nothing else, so no front can skip validation.
declare const checked: unique symbol;

/** A canonical request that passed validation. */
export type Valid<T> = T & { readonly [checked]: true };

/** Marks a request the schema accepted; the cast is the brand's whole point. */
export const valid = <T>(request: T): Valid<T> => request as Valid<T>;
