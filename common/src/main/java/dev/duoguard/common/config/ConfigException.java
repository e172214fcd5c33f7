package dev.duoguard.common.config;

/** A configuration value that cannot be used; the message names the key, where it came from and what is expected. */
public class ConfigException extends IllegalArgumentException {
    public ConfigException(String message) {
        super(message);
    }
}
