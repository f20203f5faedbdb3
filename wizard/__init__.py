"""sharegpt4v-setup: prepare the ShareGPT4V training data, resumably."""
__version__ = "0.1.0"
