"""FX area: client exchanges, reference rates, exchange-pool quotas, clients."""
