from .cli import main

if __name__ == "__main__":  # not when a peer process imports it (multiprocessing)
    main()
