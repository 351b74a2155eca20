// piscina and tinypool: the module's default export is the task function.
export default (x) => x + 1;
