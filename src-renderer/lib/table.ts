/** Column descriptions for components/DataTable.svelte. */
export interface Column<Row> {
  /** Names the column; the table's `cell` snippet switches on it. */
  id: string;
  label: string;
  /** Numbers: right-aligned, tabular figures. */
  numeric?: boolean;
  /** The cell as plain text; columns without it are drawn by the table's `cell` snippet. */
  text?: (row: Row) => string;
  /** Global classes on the column's cells (not its heading): 'muted', 'mono', 'small', 'strong'. */
  class?: string;
  /** This column takes the width the others leave, and wraps (the others keep to one line). */
  grow?: boolean;
  /** Tooltip of the column heading. */
  title?: string;
}
