/** pvepower's version, published as driver.version and in `pvepower --version`. */
export const VERSION = '0.1.0';
