// One PostgreSQL cluster per test run (vitest globalSetup): each test file asks it for fresh databases through
// `inject('postgresAdminUrl')`. Without a server the run fails here, with one line saying how to install one.
import type { TestProject } from 'vitest/node';
import { startCluster } from './helpers/postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const cluster = await startCluster().catch((error: unknown) => {
    // One line, no stack: the message says what to install.
    const line = new Error(error instanceof Error ? error.message : String(error));
    line.stack = line.message;
    throw line;
  });
  project.provide('postgresAdminUrl', cluster.adminUrl);
  return () => cluster.stop();
}
