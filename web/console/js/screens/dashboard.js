// Being written.
export const routes = [];
