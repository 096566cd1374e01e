/**
 * The analysis views: each is a page at #/<kind>?<state> (kind and state schema in
 * src-main/common/views.ts) with a place in the navigation. A new view is one entry here.
 */
import type { Component } from 'svelte';
import type { ViewKind } from '../../src-main/common/views.ts';
import LossesView from './LossesView.svelte';
import StepMatchView from './StepMatchView.svelte';

export interface AnalysisView {
  kind: ViewKind;
  /** Its name in the navigation. */
  label: string;
  component: Component;
}

export const ANALYSIS_VIEWS: readonly AnalysisView[] = [
  { kind: 'losses', label: 'Losses', component: LossesView },
  { kind: 'step-match', label: 'Step matching', component: StepMatchView },
];
