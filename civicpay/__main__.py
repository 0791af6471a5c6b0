from civicpay.cli import main

main()
