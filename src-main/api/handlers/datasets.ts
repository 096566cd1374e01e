/** The datasets area of the API: built-in and workspace datasets, their overview and documents. */
import { MotlabError } from '../../common/errors.ts';
import type { ApiHandlers } from '../../common/api/definition.ts';
import type { DatasetInfo } from '../../common/api/types.ts';
import { DatasetBrowser } from '../datasets.ts';
import { listDatasetsOf } from '../workspace.ts';
import type { ApiContext } from '../context.ts';

/** The dataset called `name` in the open workspace (or built in), or a not_found error listing them. */
export async function findDataset(ctx: ApiContext, name: string): Promise<DatasetInfo> {
  const all = await listDatasetsOf(ctx.state.workspace, ctx.options.builtinDatasets);
  const found = all.find((d) => d.name === name);
  if (!found) {
    const names = all.map((d) => d.name).join(', ') || 'none yet';
    throw new MotlabError('not_found', `No dataset named "${name}" (available: ${names})`);
  }
  return found;
}

export function datasetHandlers(ctx: ApiContext): Pick<ApiHandlers, 'listDatasets' | 'getDatasetOverview' | 'getDatasetDocuments'> {
  const browser = new DatasetBrowser();
  return {
    listDatasets: () => listDatasetsOf(ctx.state.workspace, ctx.options.builtinDatasets),
    getDatasetOverview: async ({ dataset }) => browser.overview(await findDataset(ctx, dataset)),
    getDatasetDocuments: async ({ dataset, split, offset, count }) =>
      browser.documents(await findDataset(ctx, dataset), split, offset, count),
  };
}
