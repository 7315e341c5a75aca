SELECT sae_internal.pin_privileges();
