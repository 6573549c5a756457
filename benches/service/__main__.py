from benches.service.run import main

main()
