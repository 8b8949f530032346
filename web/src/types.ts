// Shapes of the API's replies the dashboard reads (docs/api.md).

export interface User {
  id: string;
  name: string;
  is_admin: boolean;
  created_at?: string;
}

export interface ProjectRef {
  id: string;
  name: string;
  role?: string;
}

export interface Whoami {
  user: User;
  project_id: string | null;
  role: string;
  auth: string;
  expires_at: string | null;
  projects: ProjectRef[];
}

export interface Port {
  name: string;
  width: number;
}

export interface Cluster {
  id: string;
  name: string;
  project_id: string;
  created_at: string;
  inputs: Port[];
  outputs: Port[];
  stats: {
    bricks: number;
    neurons: number;
    sections: number;
    synapses: number;
    bytes: number;
    synapse_bytes: number;
    samples_trained: number;
  };
  last_checkpoint: { id: string; created_at: string } | null;
  active_task_id: string | null;
}

export interface Dataset {
  id: string;
  name: string;
  format: 'idx' | 'csv';
  state: 'uploading' | 'ready' | 'invalid';
  error: string | null;
  parts: Record<string, { size: number; received: number; sha256: string }>;
  bytes: number;
  kind: string;
  items: number | null;
  rows: number | null;
  image: { rows: number; cols: number } | null;
  classes: number | null;
  columns: string[] | null;
  created_at: string;
}

export interface Task {
  id: string;
  name: string | null;
  type: string;
  state: string;
  cluster_id: string;
  dataset_id: string | null;
  epochs: number;
  progress: number;
  samples_done: number;
  samples_total: number;
  samples_per_second: number | null;
  eta_seconds: number | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
  result_id: string | null;
}

export interface Result {
  id: string;
  task_id: string;
  cluster_id: string;
  dataset_id: string;
  count: number;
  created_at: string;
}

export interface Accuracy {
  count: number;
  correct?: number;
  accuracy: number;
  mean_absolute_error?: number;
}

export interface Checkpoint {
  id: string;
  name: string | null;
  cluster_id: string | null;
  kind: string;
  state: string;
  bytes: number;
  samples_trained: number;
  synapses: number;
  created_at: string;
  error: string | null;
}

export const ENDED = new Set(['finished', 'failed', 'cancelled', 'interrupted']);
