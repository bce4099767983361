"""Systems the hub talks to that it does not own (ERPNext): their protocols, as clients."""
