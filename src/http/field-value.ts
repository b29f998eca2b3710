// What may stand in an HTTP field value: shared by the claim headers the JWT stage adds and the
// header rules of the proxy.

/** Control characters but tab: RFC 9110 §5.5 does not allow them in a field value, and undici refuses them. */
export const CONTROL_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
