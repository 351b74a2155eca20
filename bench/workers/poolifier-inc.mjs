import { ThreadWorker } from 'poolifier';

export default new ThreadWorker((x) => x + 1);
