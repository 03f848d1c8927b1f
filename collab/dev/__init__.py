"""Developer tools: a throwaway dev wiki (`collab devwiki`) and the local cluster demo. Not used by the service."""
